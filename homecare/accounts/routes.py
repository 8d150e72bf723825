"""Accounts routes: SMS codes, register, password reset, login, refresh, logout, me,
organizations, staff users."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from homecare.accounts import schemas, service, sessions, sms
from homecare.api import Blueprint, current_config
from homecare.auth import current_actor
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import QueryPage

blp = Blueprint("accounts", __name__, description="Accounts, login and organizations")


@blp.route("/auth/sms-code")
class SmsCode(MethodView):
    @blp.arguments(schemas.SmsCodeRequestSchema)
    @blp.response(202)
    @blp.problems(429, 503)
    def post(self, body):
        """Send a 6-digit verification code by SMS (same answer whether or not the
        phone has an account); one a minute and a few a day per phone, limited per IP"""
        config = current_config()
        sms.request_code(session=db.session, config=config, ip=request.remote_addr,
                         now=utcnow(), provider=sms.provider_for(config), **body)


@blp.route("/auth/register")
class Register(MethodView):
    @blp.arguments(schemas.RegisterSchema)
    @blp.response(201, schemas.UserSchema)
    @blp.problems(409, 422)
    def post(self, body):
        """Register a patient account (a family member who books visits) with the SMS code"""
        return service.register_patient(session=db.session, config=current_config(),
                                        ip=request.remote_addr, now=utcnow(), **body)


@blp.route("/auth/reset-password")
class ResetPassword(MethodView):
    @blp.arguments(schemas.ResetPasswordSchema)
    @blp.response(204)
    @blp.problems(422)
    def post(self, body):
        """Set a new password with the SMS code; every earlier token stops working"""
        service.reset_password(session=db.session, config=current_config(),
                               ip=request.remote_addr, now=utcnow(), **body)


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(schemas.LoginSchema)
    @blp.response(200, schemas.TokensSchema)
    @blp.problems(401, 429)
    def post(self, body):
        """Log in with phone and password; throttled per phone and per IP"""
        config = current_config()
        user = service.login(session=db.session, phone=body["phone"],
                             password=body["password"], ip=request.remote_addr, now=utcnow(),
                             max_per_phone=config.login_max_attempts_per_phone,
                             max_per_ip=config.login_max_attempts_per_ip,
                             window_seconds=config.login_window_seconds)
        return sessions.start_session(session=db.session, user=user)


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(200, schemas.TokensSchema)
    @blp.problems(401)
    def post(self, body):
        """New access and refresh tokens; the refresh token sent is used up (reusing
        it later ends the whole session)"""
        return sessions.refresh_session(session=db.session, now=utcnow(),
                                        ip=request.remote_addr, **body)


@blp.route("/auth/logout")
class Logout(MethodView):
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(204)
    @blp.problems(401)
    def post(self, body):
        """End the session of this refresh token: it (and any it was refreshed from or
        into) stops working"""
        sessions.logout(session=db.session, now=utcnow(), ip=request.remote_addr, **body)


@blp.route("/me")
class Me(MethodView):
    @blp.auth()
    @blp.response(200, schemas.MeSchema)
    def get(self):
        """The caller's account and profile"""
        return service.describe_me(session=db.session, actor=current_actor())


@blp.route("/organizations")
class Organizations(MethodView):
    @blp.auth("admin")
    @blp.arguments(schemas.OrganizationSchema)
    @blp.response(201, schemas.OrganizationSchema)
    def post(self, body):
        """Create an organization with its service area"""
        return service.create_organization(session=db.session, **body)

    @blp.auth("admin")
    @blp.response(200, schemas.OrganizationSchema(many=True))
    @blp.paginate(QueryPage)
    def get(self):
        """List organizations"""
        return service.list_organizations(session=db.session)


@blp.route("/organizations/<int:organization_id>")
class OrganizationById(MethodView):
    @blp.auth("admin", "supervisor", "nurse")
    @blp.response(200, schemas.OrganizationSchema)
    @blp.problems(404)
    def get(self, organization_id):
        """One organization (staff see only their own)"""
        return service.access_organization(db.session, current_actor(), organization_id)


@blp.route("/users")
class Users(MethodView):
    @blp.auth("admin", "supervisor")
    @blp.arguments(schemas.UserCreateSchema)
    @blp.response(201, schemas.UserSchema)
    @blp.problems(404, 409)
    def post(self, body):
        """Create a nurse or supervisor account inside an organization"""
        return service.create_staff_user(session=db.session, actor=current_actor(),
                                         now=utcnow(), **body)


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    @blp.auth("admin", "supervisor")
    @blp.response(200, schemas.UserSchema)
    @blp.problems(404)
    def get(self, user_id):
        """One staff account of the caller's organization"""
        return service.access_user(db.session, current_actor(), user_id)

    @blp.auth("admin", "supervisor")
    @blp.arguments(schemas.UserUpdateSchema)
    @blp.response(200, schemas.UserSchema)
    @blp.problems(404)
    def patch(self, body, user_id):
        """Rename, deactivate (tokens stop working at once) or reset a password"""
        return service.update_user(session=db.session, actor=current_actor(),
                                   user_id=user_id, changes=body, now=utcnow())
