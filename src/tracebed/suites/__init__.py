"""tracebed.suites"""
