package agent_policy
default ExecProcessRequest := false
