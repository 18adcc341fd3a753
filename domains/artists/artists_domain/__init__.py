"""The artists domain: the onboarded roster and royalty payouts computed from plays."""
