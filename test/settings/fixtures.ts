// Test data shared by the settings tests (not a test file itself).

/** A self-signed P-256 CA certificate (CN=registry-test-ca), valid until 2126. */
export const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBjTCCATOgAwIBAgIUdLwXzDIKd79ZOK7jkdFsX/L6PtAwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQcmVnaXN0cnktdGVzdC1jYTAgFw0yNjExMjYxNDQ1MzVaGA8y
MTI2MTEwMjE0NDUzNVowGzEZMBcGA1UEAwwQcmVnaXN0cnktdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABA1+qA4cPAppFkRXkAEjTIn0gZL+Tv6kprYS
G1WmDL98VMf53OQ6vnr9Tw2joo7sj5S4pe0y6eZdtQFnaTXMhvyjUzBRMB0GA1Ud
DgQWBBRYnL//qIVyYUqy6PQUlXMhAaX/hjAfBgNVHSMEGDAWgBRYnL//qIVyYUqy
6PQUlXMhAaX/hjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFjN
xnvTAGc3uyHZVNBaZrTWjkAhLtYwGNEBzElVOVfrAiEA2EaAR4brvAAHVBCHqOhS
bxKZKVcIwltIoa6hRcsQh2c=
-----END CERTIFICATE-----
`;

/** A second self-signed CA (CN=registry-test-ca-2), for bundles. */
export const TEST_CA_2 = `-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUfjOwhJQAwEMY8bstwz5FYCPgyhwwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwScmVnaXN0cnktdGVzdC1jYS0yMCAXDTI2MTEyNjE0NDUzNVoY
DzIxMjYxMTAyMTQ0NTM1WjAdMRswGQYDVQQDDBJyZWdpc3RyeS10ZXN0LWNhLTIw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARqAMnFp4fDE/PechXW1c3DdwljMAt6
yq7UoKAiHF07rmZQ6XHeeod2YckboB7pNMYZAVvx7+sQnC+gXkuhtWO9o1MwUTAd
BgNVHQ4EFgQU867YCShmw5kuietd4MQixzboP+EwHwYDVR0jBBgwFoAU867YCShm
w5kuietd4MQixzboP+EwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAsv83zFvDRnMo6o82tpKMl31IGINvegAAzmdvcIf9ZaUCIEcd7QfgNSb3sjBT
s7+kkipYEBX/EC742t75CZEP79Xs
-----END CERTIFICATE-----
`;

/** PEM armour around bytes that are not a certificate. */
export const BROKEN_CA = `-----BEGIN CERTIFICATE-----
MIIC...not-base64-der...
-----END CERTIFICATE-----
`;
