"""tracebed.otlp"""
