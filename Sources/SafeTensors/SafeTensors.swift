// Module SafeTensors. See ARCHITECTURE.md.
