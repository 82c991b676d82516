"""tracebed.report"""
