"""Source read (never imported) by the code checks' tests: each module holds one kind of
injection sink, and ``clean.py`` the safe forms of all of them."""
