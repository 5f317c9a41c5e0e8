"""Child sexual abuse material: reports to a hotline or clearinghouse (NCMEC's
CyberTipline fields), evidence preserved, the account suspended."""
