"""flagd stand-in: an OFREP flag service over the demo's flag-file format, and flagd-ui."""
