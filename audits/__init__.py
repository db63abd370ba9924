"""Membership-inference audits of trained generators."""
