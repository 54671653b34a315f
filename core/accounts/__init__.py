"""People: users and password hashing (`users`), sign-in, sessions and throttling (`auth`).

`auth` is the one module here that knows Flask (flask-login); nothing here imports Dash.
May import the core kernel only.
"""
