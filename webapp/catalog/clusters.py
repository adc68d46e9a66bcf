"""Cluster pages."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.audit.services import record
from webapp.auth.access import admin_required
from webapp.catalog import bp
from webapp.catalog.forms import ClusterForm
from webapp.catalog.usage import cluster_users
from webapp.catalog.validation import kubeconfig_server
from webapp.extensions import db
from webapp.htmx_responses import fragment, is_htmx
from webapp.jobruns.queue import enqueue
from webapp.models import Cluster, Environment, JobRun
from webapp.pages import get_or_404, name_taken, render_form, users_message


@bp.route("/clusters/")
def clusters():
    items = db.session.scalars(select(Cluster).order_by(Cluster.name)).all()
    return render_template("catalog/clusters.html", clusters=items)


@bp.route("/clusters/<int:cluster_id>")
def cluster(cluster_id: int):
    item = get_or_404(Cluster, cluster_id, "cluster")
    server = kubeconfig_server(item.kubeconfig) if item.kubeconfig else "in-cluster"
    last_test = db.session.scalar(
        select(JobRun)
        .where(JobRun.kind == "cluster_test", JobRun.target_id == item.id)
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    environments = db.session.scalars(
        select(Environment).where(Environment.cluster_id == item.id).order_by(Environment.name)
    ).all()
    return render_template(
        "catalog/cluster.html",
        cluster=item,
        server=server,
        last_test=last_test,
        environments=environments,
    )


@bp.route("/clusters/new", methods=["GET", "POST"])
@admin_required
def new_cluster():
    form = ClusterForm()
    if form.validate_on_submit():
        if name_taken(Cluster, Cluster.name, form.name.data):
            form.name.errors.append("A cluster with this name exists.")
        else:
            item = Cluster(
                name=form.name.data,
                description=form.description.data,
                in_cluster=form.in_cluster.data,
                kubeconfig=form.kubeconfig,
            )
            db.session.add(item)
            db.session.flush()
            record("create", item)
            db.session.commit()
            flash(f"Cluster {item.name} added. Test its connection.", "success")
            return redirect(url_for(".cluster", cluster_id=item.id))
    return render_form("catalog/cluster_form.html", form, cluster=None)


@bp.route("/clusters/<int:cluster_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_cluster(cluster_id: int):
    item = get_or_404(Cluster, cluster_id, "cluster")
    form = ClusterForm(obj=item, has_kubeconfig=bool(item.kubeconfig))
    if form.validate_on_submit():
        if name_taken(Cluster, Cluster.name, form.name.data, exclude_id=item.id):
            form.name.errors.append("A cluster with this name exists.")
        else:
            item.name = form.name.data
            item.description = form.description.data
            item.in_cluster = form.in_cluster.data
            if form.kubeconfig:
                item.kubeconfig = form.kubeconfig
                item.server_version = None
            record("update", item, detail="kubeconfig replaced" if form.kubeconfig else None)
            db.session.commit()
            flash(f"Cluster {item.name} saved.", "success")
            return redirect(url_for(".cluster", cluster_id=item.id))
    form.kubeconfig_text.data = ""
    return render_form("catalog/cluster_form.html", form, cluster=item)


@bp.route("/clusters/<int:cluster_id>/delete", methods=["POST"])
@admin_required
def delete_cluster(cluster_id: int):
    item = get_or_404(Cluster, cluster_id, "cluster")
    users = cluster_users(item)
    if users:
        flash(users_message(f"cluster {item.name}", users), "error")
        return redirect(url_for(".cluster", cluster_id=item.id))
    record("delete", item)
    db.session.delete(item)
    db.session.commit()
    flash(f"Cluster {item.name} deleted.", "success")
    return redirect(url_for(".clusters"))


@bp.route("/clusters/<int:cluster_id>/test", methods=["POST"])
@admin_required
def test_cluster(cluster_id: int):
    item = get_or_404(Cluster, cluster_id, "cluster")
    run = enqueue(
        "jobs.catalog.test_cluster_connection",
        item.id,
        kind="cluster_test",
        title=f"Test connection to cluster {item.name}",
        target=item,
        user=current_user,
    )
    if is_htmx():
        return fragment("partials/jobruns/status.html", run=run)
    return redirect(url_for(".cluster", cluster_id=item.id))
