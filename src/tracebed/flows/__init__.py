"""tracebed.flows"""
