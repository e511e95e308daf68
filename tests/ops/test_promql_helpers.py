from tests.ops.promql import metric_names


def test_metric_names_skip_functions_labels_and_keywords():
    expr = (
        'sum by (job, le) (rate(audit_x_bucket{status=~"5..", le="+Inf"}[5m])) '
        "/ on (job) group_left sum(audit_y_total) > 0.5 unless time() - audit_z > 300"
    )
    assert metric_names(expr) == {"audit_x_bucket", "audit_y_total", "audit_z"}


def test_metric_names_of_a_bare_selector():
    assert metric_names("audit_consumer_lag") == {"audit_consumer_lag"}
