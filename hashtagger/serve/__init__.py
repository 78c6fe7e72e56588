"""serve: the HTTP API and web page over the predict pipeline."""
