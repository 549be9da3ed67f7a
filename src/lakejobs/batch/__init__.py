"""Batch stages: landing → staging validation and staging → curated models."""
