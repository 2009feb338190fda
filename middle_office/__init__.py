"""The middle office: special-order review and the one outbound call engine (reviews, callbacks)."""
