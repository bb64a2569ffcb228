"""The event log (writer and reader, side by side), its schema and docs, and the metrics."""
