"""Tests of the agent desk (callcenter/desk)."""
