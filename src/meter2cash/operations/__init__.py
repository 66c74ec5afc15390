"""The people side: work orders (工单) for the field, and later teams, routes and KPIs."""
