"""The floor supervisor's desk: live wallboard, alerts, dispatch, and listen/whisper/barge."""
