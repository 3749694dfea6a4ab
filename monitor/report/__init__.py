"""The post-mortem report: analysis (pandas) and its HTML, Markdown and JSON renderings."""
