"""Accounts: sign-in, registration, email verification, password reset, the brute-force
lockout and personal API tokens, for applications whose users sign in with a password.
"""
