"""tracebed.query"""
