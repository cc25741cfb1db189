package ports

import "fmt"

// MarshalText stores a mapping as the -p spec that gives it back, such as
// "0.0.0.0:8080:80/tcp": the store keeps thousands of mappings, and a
// short string decodes far faster than a JSON object.
func (m Mapping) MarshalText() ([]byte, error) {
	host := m.hostPortText()
	return fmt.Appendf(nil, "%s:%s:%d/%s", BindAddr(m.HostIP), host, m.ContainerPort, m.Proto), nil
}

// UnmarshalText reads what MarshalText wrote.
func (m *Mapping) UnmarshalText(text []byte) error {
	ms, err := Parse(string(text))
	if err != nil {
		return err
	}
	if len(ms) != 1 {
		return fmt.Errorf("stored port mapping %q is %d mappings, want 1", text, len(ms))
	}
	*m = ms[0]
	return nil
}
