"""Recording ingestion: download, audio analysis, transcoding and storage."""
