"""Sensitive information in prompts: detectors for well-known kinds of entity, a scanner
that finds them (and custom patterns) in linear time, and the redaction that replaces
them with placeholders and puts them back in the answer."""
