"""Sample catalog inputs shared by the web app tests."""

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: demo
    cluster:
      server: https://127.0.0.1:6443
contexts:
  - name: demo
    context:
      cluster: demo
      user: demo
current-context: demo
users:
  - name: demo
    user:
      token: kube-token-SECRET-value-123
"""

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  replicas: 1
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      containers:
        - name: cart
          image: registry.example.com/shop/cart:1.0.0
---
apiVersion: v1
kind: Service
metadata:
  name: cart
spec:
  selector: {app: cart}
  ports: [{port: 80}]
"""

SERVICE_ONLY_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: cart
spec:
  ports: [{port: 80}]
"""

# One Deployment named {name} running {image}; fill with str.format.
DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - {{name: {name}, image: "{image}"}}
"""
