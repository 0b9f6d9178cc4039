#!/bin/bash
# environment for the PaGoDA cluster
export ARGO_NAMESPACE=vcity
ARGO_SERVER=argo.pagoda.example:443   # inline comment
ARGO_TOKEN='Bearer v2:abc def'
ARGO_SERVICE_ACCOUNT="vcity-sa"
export KUBECONFIGMAP=
KUBEVOLUMECLAIMNAME=vcity-data#not-a-comment
  export   XTASK_REGISTRY=harbor.pagoda.os.univ-lyon1.fr/vcity
XTASK_REGISTRY_USER="robot\$vcity"
KUBECONFIG="$HOME/.kube/pagoda.yaml"
export KUBECONFIG
