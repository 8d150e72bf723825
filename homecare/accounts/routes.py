"""Accounts routes: register, login, refresh, me, organizations, staff users."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from homecare.accounts import schemas, service
from homecare.api import Blueprint, current_config
from homecare.auth import current_actor, issue_access_token, issue_tokens
from homecare.clock import utcnow
from homecare.db import db
from homecare.pagination import QueryPage

blp = Blueprint("accounts", __name__, description="Accounts, login and organizations")


@blp.route("/auth/register")
class Register(MethodView):
    @blp.arguments(schemas.RegisterSchema)
    @blp.response(201, schemas.UserSchema)
    @blp.problems(409)
    def post(self, body):
        """Register a patient account (a family member who books visits)"""
        return service.register_patient(session=db.session, **body)


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
        return {**issue_tokens(user.id, user.role), "role": user.role, "user_id": user.id}


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(200, schemas.AccessTokenSchema)
    @blp.problems(401)
    def post(self, body):
        """Exchange a refresh token for a new access token"""
        user = service.refresh(session=db.session, refresh_token=body["refresh_token"])
        return {"access_token": issue_access_token(user.id, user.role)}


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
        return service.create_staff_user(session=db.session, actor=current_actor(), **body)


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
                                   user_id=user_id, changes=body)
