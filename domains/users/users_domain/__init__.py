"""The users domain: registrations from the sign-up system, mastered into profiles."""
