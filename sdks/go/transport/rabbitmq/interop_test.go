package rabbitmq

import (
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/internal/tspeer"
	"github.com/thrun-dev/thrun/sdks/go/transport/internal/interop"
)

func TestInteropWithTypeScript(t *testing.T) { interop.Run(t, tspeer.RabbitMQ, broker) }
