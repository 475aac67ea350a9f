"""money: helpers for amounts stored as integer cents."""
