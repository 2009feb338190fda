"""The floor supervisor's domain: alerts, wallboard figures, support groups, dispatch, monitors."""
