"""A small shop: the sample repository the template tests run against."""
