"""Quality control: sampling, scorecards, scoring and reports."""
