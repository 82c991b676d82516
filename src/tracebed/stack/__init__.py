"""tracebed.stack"""
