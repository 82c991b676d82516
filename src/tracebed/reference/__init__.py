"""tracebed.reference"""
