// Names the platform fixes and every layer shares: the module's namespace and the address every
// managed mode serves platform images at. One definition each (issue 14: they existed twice, once
// with two meanings under one name).
export const MODULE_NAMESPACE = "d8-system";
/** DNS name of Service `d8-system/registry` (certificate SANs). */
export const REGISTRY_SERVICE_HOST = `registry.${MODULE_NAMESPACE}.svc`;
/** `host:port` of the fixed address: containerd's `registry.d` key, `deckhouse-registry`'s address. */
export const REGISTRY_ADDRESS = `${REGISTRY_SERVICE_HOST}:5001`;
