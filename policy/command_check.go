package policy

// CheckCommand judges a shell command line (an SSH exec request or a line
// typed into an interactive shell) against the policy's command rules. A nil
// policy allows everything.
func (p *Policy) CheckCommand(sub Subject, cmdline string) Decision {
	if p == nil {
		return Decision{Action: Allow}
	}
	return decideCommand(p.commands, p.defAction, p.unparseable, sub, cmdline)
}
