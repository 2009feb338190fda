"""Queue callbacks, a client of the outbound engine: booked and started (`booking`), and the
queue entry's side of the engine's calls (`entries`)."""
