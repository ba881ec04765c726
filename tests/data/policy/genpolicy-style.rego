# Shaped like the output of a policy generator: defaults plus rules with bodies. sealpod has no
# Rego engine, so this file must be refused at load (line 7 is the first rule with a body).
package agent_policy

default CreateContainerRequest := false

CreateContainerRequest {
	input.OCI.Version == "1.1.0"
}
