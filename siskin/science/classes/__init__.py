"""The final class of an alert: ordered rules over module scores, cross-match labels and flags."""
