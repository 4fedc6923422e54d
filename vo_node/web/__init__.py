"""Pages for people: the landing page now; search, downloads and statistics later."""
