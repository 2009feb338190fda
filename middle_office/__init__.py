"""The middle office: special-order intake and review, the review thresholds, decisions sent to
the order system, and the order review as a kind of outbound call (`review_calls`)."""
