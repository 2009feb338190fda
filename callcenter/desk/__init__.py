"""The agent desk: log in, change state, see the screen pop, answer, hang up and wrap up."""
