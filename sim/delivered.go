package sim

// SMTPDelivered counts the messages the emulated SMTP server accepted (and
// discarded) since start, so a test can see that a message went through.
func (s *Sim) SMTPDelivered() int64 { return s.smtp.Delivered() }
