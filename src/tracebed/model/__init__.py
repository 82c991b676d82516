"""tracebed.model"""
