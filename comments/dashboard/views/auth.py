"""Logging in and out."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, redirect, request, url_for
from werkzeug.wrappers import Response

from comments import moderator_session
from comments.dashboard.views.common import bp, login_page, safe_next
from comments.limiting import client_ip, limiter
from comments.services import accounts


@bp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="dashboard-login", methods=["POST"])
def login() -> Response:
    if request.method == "GET":
        if moderator_session.session_moderator() is not None:
            return redirect(safe_next(request.args.get("next")))
        return login_page()
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    try:
        lifetime = timedelta(hours=current_app.config["MODERATOR_TOKEN_HOURS"])
        issued = accounts.login(email, password, lifetime, client_ip=client_ip())
    except accounts.Unauthorized:
        return login_page("The email or password is not right.", 401, email)
    moderator_session.start(issued)
    return redirect(safe_next(request.form.get("next")), 303)


@bp.post("/logout")
def logout() -> Response:
    moderator_session.end()
    return redirect(url_for("dashboard.login"), 303)
